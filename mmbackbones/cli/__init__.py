"""What the command-line tools (``tools/train.py``, ``test.py``, ``compare.py``) share: config
loading with clear errors (:mod:`.launch`), checks of the data a config reads
(:mod:`.datacheck`) and the work-dir lock and resume rules (:mod:`.workdir`). Not imported by
``import mmbackbones`` (it stays cheap)."""
