"""The demo project ``AEB``, at the top of the dependency order: it writes only through the
services of the apps below it, as a user or the operator's bootstrap would."""
