"""Curators run the recruitment queue; operators read it."""

PERMISSIONS = {
    "curator": ["curation.view_wantedshop", "curation.change_wantedshop", "curation.view_nomination"],
    "operator": ["curation.view_wantedshop", "curation.view_nomination"],
}
