"""Qt widgets of the napari plugin (imported only by napari, never by the scripted API)."""
