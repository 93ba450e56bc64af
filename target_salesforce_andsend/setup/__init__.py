"""`target-salesforce-andsend setup`: a local web page to connect, map fields and set the switches.

``main.py`` (command line, serving), ``app.py`` (the pages), ``model.py`` (the draft and its rules,
no I/O), ``workspace.py`` + ``files.py`` (what is read and written), ``org.py`` (the signed-in
org's describes), ``preview.py`` (the dry run), ``templates/`` and ``static/``.
"""
