"""Steps 6 and 9 of the request path: model names and effective sets, option caps."""
