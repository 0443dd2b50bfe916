#pragma once
#include "operator/version_info.h"
