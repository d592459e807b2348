pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.databases", "tests.fixtures.moto_s3"]
