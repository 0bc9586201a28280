# Helpers shared by the rule files: paths derived from the config, nothing else.


def cfg_hash(*keys):
    """A short hash of a config section; used in `params` so that a change re-runs the jobs that read it."""
    section = config
    for key in keys:
        section = section[key]
    return config_hash(section)


DSCODEC = "dscodec"  # the CLI entry point installed with the package
