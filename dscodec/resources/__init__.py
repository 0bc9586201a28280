"""Package data that config loading needs: the default config and its JSON schema.

A package, so `importlib.resources.files("dscodec.resources")` finds them in a wheel or an
editable install alike, without the repository on the path (dscodec.config reads them).
"""
