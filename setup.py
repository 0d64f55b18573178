"""pip install . -> Salt finds mosmu's runner, execution module and state without syncing.

The same source tree also works as a Salt file_roots directory (saltutil.sync_all).
"""

import glob
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
HELPERS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(HERE, "_utils", "mosmu_*.py")))

setup(
    name="mosmu",
    version="0.1.0",
    description="Apply Mirantis OpenStack maintenance updates to Fuel environments with Salt",
    license="Apache-2.0",
    python_requires=">=3.9",
    install_requires=["salt>=3006", "requests", "PyYAML", "Jinja2"],
    # Helpers are plain top-level modules (import mosmu_fuel), exactly as Salt puts a synced
    # _utils dir on sys.path; the loader dirs live inside the mosmu_salt package.
    package_dir={"": "_utils", "mosmu_salt": "mosmu_salt",
                 "mosmu_salt._modules": "_modules", "mosmu_salt._runners": "_runners",
                 "mosmu_salt._states": "_states", "mosmu_sandbox": "sandbox"},
    py_modules=HELPERS,
    packages=["mosmu_salt", "mosmu_salt._modules", "mosmu_salt._runners",
              "mosmu_salt._states", "mosmu_sandbox"],
    package_data={"mosmu_sandbox": ["data/*"]},
    entry_points={
        "salt.loader": [
            "module_dirs = mosmu_salt.loader:module_dirs",
            "runner_dirs = mosmu_salt.loader:runner_dirs",
            "states_dirs = mosmu_salt.loader:states_dirs",
        ],
        "console_scripts": ["mosmu-sandbox = mosmu_sandbox.cli:main"],
    },
)
