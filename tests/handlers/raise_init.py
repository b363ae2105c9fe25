raise RuntimeError("startup fails")
