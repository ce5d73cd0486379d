"""The browser pages, one router per area; app.py registers every router in ROUTERS' order."""
