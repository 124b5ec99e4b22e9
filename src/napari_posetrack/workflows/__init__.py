"""What each ``posetrack`` command does, as Python functions, below the command line.

One module per command (``workflows/<command>.py``; ``import`` is ``import_``, dashes are
underscores). Each holds the function of the command's name (``train``, ``predict``,
``import_``, ...) and its generator form where there is one (``iter_predict_files``,
``iter_track_file``, ...). :mod:`napari_posetrack.api` and the ``cli/cmd_<command>.py``
modules both call these; the command modules keep only their arguments and their printing.

Layering: this package imports ``core`` (and ``nn`` inside functions, for the commands that
need torch); it never imports ``cli``, ``_napari``, ``api``, napari or Qt. Heavy imports go
inside the functions, so importing a module here is cheap.
"""
