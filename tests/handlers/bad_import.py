import does_not_exist_module  # noqa: F401 - the import failure is the point of this fixture
