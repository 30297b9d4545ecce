"""The labeling studio over HTTP: the API and the browser UI."""
