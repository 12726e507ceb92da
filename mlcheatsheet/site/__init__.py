"""What exists only for the documentation site: nothing here is needed to build or train a model.

* :mod:`~mlcheatsheet.site.budgets` — how long each gallery example trains in each build mode
  and on each device, and the quality each full run must reach;
* :mod:`~mlcheatsheet.site.report` — the result record each example leaves for the site's
  results table and for the build's checks;
* :mod:`~mlcheatsheet.site.pretrained` — the trained model each example publishes for download,
  and the lines that load it;
* ``mlcheatsheet.site.export`` — the ONNX models of the in-browser demos.

A gallery script calls them only inside ``sphinx_gallery_start_ignore`` blocks, which the
build runs and the page, the download and the notebook leave out.
"""
