"""Algorithms on top of the collectives; ``ddp_comm_hooks`` holds DDP communication hooks."""
