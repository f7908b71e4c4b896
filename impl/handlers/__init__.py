"""Thin operation handlers.  Each module registers its operations with `impl.routing.operation`;
`impl.routing.discover_handlers` imports every module here, so adding a module is enough."""
