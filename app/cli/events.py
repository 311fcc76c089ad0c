"""Every recorded event, published to the Redis Stream ``groundloop:events``: groundloop events."""

import json
import re
from typing import Annotated

import typer

from retrieval.errors import GroundloopError

from app.cli.shell import err, out, state

group = typer.Typer(help="Every recorded event, published to the Redis Stream groundloop:events.",
                    no_args_is_help=True)
STREAM_ID = re.compile(r"(\d+)(?:-(\d+))?")
FOLLOW_BLOCK_MS = 5000
PAGE = 1000


@group.command("publish")
def events_publish() -> None:
    """Publish what is due now (a running server does this by itself) and say where the stream stands."""
    from app.event_stream import STREAM, Publisher
    from feedback import event_stream

    db = state.root.database
    publisher = Publisher(_url(), lambda: db)
    try:
        published = publisher.publish_due()
    finally:
        publisher.close()
    out.print(f"{published} events published; {STREAM} holds every event up to {event_stream.cursor(db, STREAM)}.",
              highlight=False)


@group.command("tail")
def events_tail(
    start: Annotated[str | None, typer.Option("--from", metavar="ID",
                                              help="Every entry from this event id on (e.g. 120, or 120-0).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new entries as they come.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="Without --from: how many of the newest.")] = 10,
) -> None:
    """The stream's entries, one a line: event id, time, kind, subject, actor and the data's ids."""
    import redis

    from app.event_stream import STREAM, client, where

    connection = client(_url())
    try:
        last = _print_from(connection, STREAM, start, lines, as_json)
        while follow:
            for _, entries in connection.xread({STREAM: last}, block=FOLLOW_BLOCK_MS, count=PAGE) or []:
                for stream_id, fields in entries:
                    _print(stream_id, fields, as_json)
                    last = stream_id
    except redis.RedisError as error:
        raise GroundloopError(f"Redis at {where(connection)} cannot be read: {str(error).strip() or error!r}") from None
    except KeyboardInterrupt:
        err.print("Stopped.")
    finally:
        connection.close()


def _print_from(connection, stream: str, start: str | None, lines: int, as_json: bool) -> str:
    """Prints the first entries; the stream id after which new ones follow."""
    if start is None:
        newest = list(reversed(connection.xrevrange(stream, count=lines)))
        for stream_id, fields in newest:
            _print(stream_id, fields, as_json)
        return newest[-1][0] if newest else "0-0"
    if not (match := STREAM_ID.fullmatch(start.strip())):
        raise GroundloopError(f"--from takes an event id such as 120 (or a stream id such as 120-0), not {start!r}.")
    low, last = f"{match[1]}-{match[2] or 0}", f"{int(match[1]) - 1 if int(match[1]) else 0}-0"
    while page := connection.xrange(stream, min=low, count=PAGE):
        for stream_id, fields in page:
            _print(stream_id, fields, as_json)
        last = page[-1][0]
        low = "(" + last
    return last


def _print(stream_id: str, fields: dict[str, str], as_json: bool) -> None:
    data = _data(fields.get("data"))
    if as_json:
        line = json.dumps({"stream_id": stream_id, **fields, "data": data}, ensure_ascii=False)
    else:
        subject = f"{fields.get('subject_type', '')}:{fields.get('subject_id', '')}"
        ids = " ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in data.items())
        line = "  ".join(part for part in (fields.get("id", stream_id), fields.get("at", ""), fields.get("kind", ""),
                                           subject, f"by {fields.get('actor_id', '-')}", ids) if part)
    out.print(line, markup=False, highlight=False)


def _data(raw: str | None) -> dict:
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _url() -> str:
    if not state.settings.events_redis_url:
        raise GroundloopError("No event stream: set GROUNDLOOP_EVENTS_REDIS_URL (e.g. redis://127.0.0.1:6379/0).")
    return state.settings.events_redis_url
