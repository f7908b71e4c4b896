"""Request limits: the JSON body policy (size, depth, numbers, text) and the per-app limit of
active requests (in process, or shared through Redis)."""
