import os

# No internet on CI and compute nodes: keep albumentations from phoning home at import.
os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
