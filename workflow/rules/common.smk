import sys

# Helpers shared by the rule files: paths derived from the config, nothing else.


def cfg_hash(*keys):
    """A short hash of a config section; used in `params` so that a change re-runs the jobs that read it."""
    section = config
    for key in keys:
        section = section[key]
    return config_hash(section)


# The CLI installed beside the Python that runs Snakemake, so rules work without activating the env.
_cli_beside_python = Path(sys.executable).with_name("dscodec")
DSCODEC = str(_cli_beside_python) if _cli_beside_python.exists() else "dscodec"
