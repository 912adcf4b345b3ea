"""The product's one name, in English (code, logs, the API's documentation) and in Chinese (what
residents read: stickers, pages, messages). Use these, never another spelling."""

from __future__ import annotations

NAME = "Guangming e-ID"
NAME_ZH = "光明e证"
MINIPROGRAM_HINT = f"请在微信中打开“{NAME_ZH}”小程序查看详情。"
