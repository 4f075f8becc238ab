"""Page layouts only (``layout(ctx, **query)``); registered with Dash pages by ``dashboard.app``."""
