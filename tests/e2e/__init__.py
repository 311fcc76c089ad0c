"""End-to-end tests: the real ``groundloop`` server in a subprocess, driven through Chromium."""
