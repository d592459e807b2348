pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.databases"]
