package doorway

import "sort"

// Permission is one entry of the platform's permission catalog: the name an
// app requests and the description the user reads on the consent page.
type Permission struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
}

// Catalog is the platform's permission catalog. Apps may request only what
// is in it, so a consent page never shows a permission the platform cannot
// explain.
type Catalog []Permission

// Has reports whether the catalog holds the named permission.
func (c Catalog) Has(name string) bool {
	_, ok := c.Lookup(name)
	return ok
}

// Lookup returns the named permission.
func (c Catalog) Lookup(name string) (Permission, bool) {
	for _, p := range c {
		if p.Name == name {
			return p, true
		}
	}
	return Permission{}, false
}

// Names returns the permission names, sorted.
func (c Catalog) Names() []string {
	names := make([]string, len(c))
	for i, p := range c {
		names[i] = p.Name
	}
	sort.Strings(names)
	return names
}
