"""The demo county that `fangkong demo` builds from a real OpenStreetMap extract."""
