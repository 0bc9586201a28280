"""Reports: tables, figures and the listening page built from evaluation summaries (`dscodec report`).

A regular package (not a namespace one) so every build backend and type checker ships and sees it.
"""
