"""Cross-cutting pieces: configuration, database, errors, auth, scoping, audit, i18n."""
