// Closes the installer window when a script opened it; otherwise the page
// says the user can close it.
window.close();
