"""The road network: import (OSM, GIS line layers, arrays), the travel-time engine, snapping."""
