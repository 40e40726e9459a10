"""Every sentence a user reads, from message catalogs per language (docs/messages.md).

``catalog`` (the shipped catalogs, rendering with CLDR plurals, numbers and dates per locale;
pure apart from reading the package's own catalog files), ``overrides`` (a company's own
wording, from the file `[messages] override_file` names), ``check`` (missing translations),
``config`` (the `[messages]` section).
"""
