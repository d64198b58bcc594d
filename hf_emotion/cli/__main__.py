"""``python -m hf_emotion.cli`` = ``hf-emotion``."""

import sys

from . import main

sys.exit(main())
