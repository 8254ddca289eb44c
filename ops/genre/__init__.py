"""Music genre per track and per rolling window, after Cambridge Consultants' Aficionado.

The label set is whatever genre sub-folders the training folder holds; the catalog's
default taxonomy is baroque, classical, ragtime and jazz (Aficionado's genres), and any
other set (GTZAN's ten, say) trains the same way. A music-or-not gate comes first:
speech, nature sounds and silence get no genre.
"""
