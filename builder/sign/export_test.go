package sign

// HomeOf is the private GnuPG home g imported its key file into.
func HomeOf(g *GPG) string { return g.home }
