"""Third-party networks, re-implemented so that their released weights load with ``strict=True``.

Everything in this folder follows an upstream architecture module for module and name for
name; it is not DS-Codec's own code (that is ``dscodec/models`` and ``dscodec/quantize``),
only the loaders next to this folder (``../dac.py``, ``../bigcodec.py``, ``../wavtokenizer.py``)
are ours. Upstream repositories and their licences:

* ``dac_model.py``: descriptinc/descript-audio-codec (release 1.0.0), MIT licence.
* ``bigcodec_model.py``: Aria-K-Alethia/BigCodec, MIT licence.
* ``wavtokenizer_model.py``: jishengpeng/WavTokenizer, MIT licence.
"""
