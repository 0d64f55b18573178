"""pip install . -> Salt finds mosmu's runner, execution module and state without syncing.

The same source tree also works as a Salt file_roots directory (saltutil.sync_all).
"""

import glob
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "README.md"), encoding="utf-8") as _readme:
    LONG_DESCRIPTION = _readme.read()
# Salt releases the unit and integration tiers pass on (scripts/salt-matrix.sh): 3006 LTS,
# 3007 and 3008. The next major is excluded until the matrix has run on it.
SALT_RANGE = "salt>=3006,<3009"
HELPERS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(HERE, "_utils", "mosmu_*.py")))

setup(
    name="mosmu",
    version="0.1.0",
    description="Apply Mirantis OpenStack maintenance updates to Fuel environments with Salt",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Console",
        "Intended Audience :: System Administrators",
        "License :: OSI Approved :: Apache Software License",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: System :: Systems Administration",
        "Topic :: System :: Software Distribution",
    ],
    python_requires=">=3.9",
    install_requires=[SALT_RANGE, "requests", "PyYAML", "Jinja2", "python-debian"],
    # Helpers are plain top-level modules (import mosmu_fuel), exactly as Salt puts a synced
    # _utils dir on sys.path; the loader dirs live inside the mosmu_salt package.
    package_dir={"": "_utils", "mosmu_salt": "mosmu_salt",
                 "mosmu_salt._modules": "_modules", "mosmu_salt._runners": "_runners",
                 "mosmu_salt._states": "_states", "mosmu_salt._output": "_output",
                 "mosmu_sandbox": "sandbox"},
    py_modules=HELPERS,
    packages=["mosmu_salt", "mosmu_salt._modules", "mosmu_salt._runners",
              "mosmu_salt._states", "mosmu_salt._output", "mosmu_sandbox"],
    package_data={"mosmu_sandbox": ["data/*"]},
    entry_points={
        "salt.loader": [
            "module_dirs = mosmu_salt.loader:module_dirs",
            "runner_dirs = mosmu_salt.loader:runner_dirs",
            "states_dirs = mosmu_salt.loader:states_dirs",
            "outputter_dirs = mosmu_salt.loader:outputter_dirs",
        ],
        "console_scripts": [
            "mosmu-sandbox = mosmu_sandbox.cli:main",
            # the old mos_apply_mu.py command line, run by the mosmu runner
            "mos_apply_mu = mosmu_salt.compat:main",
        ],
    },
)
