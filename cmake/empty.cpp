// libbitnet.so is made of the static model library linked whole (cmake/install.cmake); a shared library
// target needs at least one source of its own.
