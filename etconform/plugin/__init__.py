"""The pytest side: hooks (plugin), collection of catalog x targets, scheduling, progress, run.json, Allure."""
