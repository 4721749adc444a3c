"""The HTTP edge: thin routes that parse, call one domain function and render."""
