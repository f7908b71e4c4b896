"""Behaviour of the server: apps, keys, end users, generation, conversations, files …"""
