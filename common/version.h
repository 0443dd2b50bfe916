#pragma once
#include "common/version_info.h"
