"""Delivery channels: WeChat (subscribe and template messages), SMS, email, and the console."""
