"""Shows which package and C library the tests run against."""


def pytest_report_header(config):
    import hypersimplex
    return [f"hypersimplex {hypersimplex.__file__}", f"libhypersimplex {hypersimplex.library_path} "
            f"(version {hypersimplex.version()})"]
