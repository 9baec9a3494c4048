"""The local web dashboard and its JSON API over a workspace."""
