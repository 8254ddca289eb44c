"""A generated catalog website (media, pages, sitemap, feed, traps) and a local server for it."""
