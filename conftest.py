pytest_plugins = ["etconform.plugin.hooks"]
