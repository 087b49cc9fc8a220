import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    with open(os.path.join(HERE, 'mmbackbones', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def read_requirements(name):
    with open(os.path.join(HERE, 'requirements', name)) as f:
        lines = (line.split('#')[0].strip() for line in f)  # drop comments, inline ones too
        return [line for line in lines if line]


setup(
    name='mmbackbones',
    version=read_version(),
    description='Detection and segmentation backbones for OpenMMLab 2.x under one contract',
    long_description=open(os.path.join(HERE, 'README.md')).read() if os.path.exists(
        os.path.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmbackbones', 'mmbackbones.*']),
    python_requires='>=3.9',
    # torch and mmcv (built from source) are installed by scripts/install.sh.
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt'),
                    'yolo': read_requirements('yolo.txt')},
    license='Apache-2.0',
)
