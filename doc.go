// Package doorway is the vocabulary of Doorway, an app-installation server:
// apps and their immutable versions, install links, users, tenants, install
// requests and installations, and the errors that every other package speaks.
//
// It imports nothing of ours. Storage (package store), the install state
// machine (package install), the wire dialects (package profile) and HTTP
// (package web) are built around these types, so a reader can learn what
// Doorway is from this package alone.
package doorway
