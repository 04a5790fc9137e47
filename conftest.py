pytest_plugins = ["etconform.plugin"]
